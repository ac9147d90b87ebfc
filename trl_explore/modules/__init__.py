"""trl_explore.modules"""
