"""minireason.generation"""
