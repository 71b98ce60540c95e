"""Outbound notifications: signed webhooks and mail to people and systems outside
the federation. An adapter like the bus: may import the pipeline and below.
"""
