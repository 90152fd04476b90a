"""minireason.tasks"""
