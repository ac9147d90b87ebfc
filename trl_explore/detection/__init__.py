"""trl_explore.detection"""
