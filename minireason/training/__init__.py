"""minireason.training"""
