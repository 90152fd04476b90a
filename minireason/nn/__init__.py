"""minireason.nn"""
