"""trl_explore.kernels"""
