from flask import Flask
print("loading views")  # a module that prints while it is imported
app = Flask(__name__)

@app.route("/")
def index():
    return "ok"

@app.route("/items/<int:n>")
def item(n):
    return str(n)

@app.route("/orders", methods=["POST"])
def order():
    return "", 201

@app.route("/upload", methods=["POST"])
def upload():
    import imghdr  # checks uploads are really images
    try:
        import ujson as fast_json
    except ImportError:
        fast_json = None
    return imghdr.what(None, b"") or "", 200
