"""minireason.rl"""
