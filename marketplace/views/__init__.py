"""Page views of the vendor portal, the catalog and the buyer console (HTML for people).

Each view parses a form, calls one service or selector (the same ones the API uses) and renders
the result; a service's ApplicationError goes back on the form or into the messages.
"""
