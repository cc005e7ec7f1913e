"""app.json as Dokku reads it: JSON with comments and trailing commas.

Since 0.37.0 Dokku parses app.json with tailscale/hujson and standardises it to plain JSON before
decoding it (dokku/dokku v0.38.27 plugins/app-json/appjson.go ReadAppJSON: `hujson.Parse`, then
`Standardize`): `//` comments, ended by a newline, and `/* */` comments wherever whitespace may
stand, and one comma after the last member of an object or the last element of an array. As
hujson's Standardize does, each becomes spaces (newlines kept), so the positions in a JSON error
still point into the file as written. One leniency: a `//` comment may end the file without a
newline, since Dokku appends one to an app.json it copies out of an image (plugins/common/docker.go
CopyFromImage), so a `git:from-image` deploy of such a file goes through. Every deploy with an
app.json comes through here: the text is walked token by token with one regular expression, and
nothing else is loaded.
"""

import re

# A string (to its closing quote, or to the end when unclosed), a comment (possibly unterminated),
# or a structural character; numbers, literals and anything else are left between the matches.
TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"?|//[^\n]*\n?|/\*(?:.*?\*/)?|[,:\[\]{}]', re.DOTALL)
NOT_BLANK = re.compile(r"[^\t\n\r ]")


def standardize(text: str) -> str:
    """Plain JSON, same length, same lines; ValueError for a block comment that never ends."""
    pieces = []
    position = 0
    value_ended = False  # a value ended after the last `,` `:` `[` or `{`
    trailing = -1        # where in `pieces` a comma stands that may yet be trailing
    for match in TOKEN.finditer(text):
        start, end = match.span()
        between = text[position:start]
        if between.strip():  # a number, true/false/null, or something JSON will refuse
            value_ended, trailing = True, -1
        pieces.append(between)
        token = match.group()
        if token.startswith("//") or token.startswith("/*"):
            if token[1] == "*" and (len(token) < 4 or not token.endswith("*/")):
                line = text.count("\n", 0, start) + 1
                raise ValueError(f"the comment on line {line} never ends: it needs '*/' after it")
            pieces.append(NOT_BLANK.sub(" ", token))
        elif token == ",":
            trailing = len(pieces) if value_ended else -1
            value_ended = False
            pieces.append(token)
        else:
            if token in ("]", "}") and trailing >= 0:
                pieces[trailing] = " "
            trailing = -1
            value_ended = token in ("]", "}") or token.startswith('"')
            pieces.append(token)
        position = end
    pieces.append(text[position:])
    return "".join(pieces)
