"""minireason.distill"""
