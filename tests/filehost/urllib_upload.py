"""Uploads a file to a FILEHOST URL the way a stock HTTP client does it: Python's urllib with
an HTTPBasicAuthHandler, which sends no credentials at first and answers the server's 401
challenge (WWW-Authenticate) with them. Then downloads the link anonymously.

usage: urllib_upload.py UPLOAD_URL USER PASSWORD
prints: the status, the Location, then the downloaded body's type, disposition and length,
and whether the bytes are the same.
"""

import sys
import urllib.request

url, user, password = sys.argv[1:4]
body = bytes(range(256)) * 1000

auth = urllib.request.HTTPPasswordMgrWithDefaultRealm()
auth.add_password(None, url, user, password)
opener = urllib.request.build_opener(urllib.request.HTTPBasicAuthHandler(auth))
req = urllib.request.Request(
    url,
    data=body,
    method="POST",
    headers={
        "Content-Type": "application/x-test",
        "Content-Disposition": "attachment; filename*=UTF-8''caf%C3%A9.bin",
    },
)
with opener.open(req, timeout=10) as resp:
    print("status", resp.status)
    link = resp.headers["Location"]
    print("location", link)

with urllib.request.urlopen(link, timeout=10) as resp:
    got = resp.read()
    print("type", resp.headers["Content-Type"])
    print("disposition", resp.headers["Content-Disposition"])
    print("length", len(got))
    print("same", got == body)
sys.stdout.flush()
