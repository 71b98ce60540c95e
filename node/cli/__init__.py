"""Every ``beacon`` command. The top layer: may import anything in ``node``.
"""
