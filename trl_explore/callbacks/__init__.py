"""trl_explore.callbacks"""
