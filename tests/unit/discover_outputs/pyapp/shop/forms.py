"""Form parsing written for Python 3.11: the cgi module is gone in Python 3.13."""
import cgi

def parse(environ):
    return cgi.FieldStorage(environ=environ)
