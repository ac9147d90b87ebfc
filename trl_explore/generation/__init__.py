"""trl_explore.generation"""
