"""minireason.io"""
