"""trl_explore.trainers"""
