"""tfc-nas placeholder"""
