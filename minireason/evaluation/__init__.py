"""minireason.evaluation"""
