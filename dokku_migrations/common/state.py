# Where the plugin keeps its state, named once for two readers: bin/run, which sources this file before
# Python starts (so it stays shell as well as Python: comments and NAME="value" lines only), and the
# plugin's Python side.
STATE_DIR="data/migrations"         # under $DOKKU_LIB_ROOT: per app, the gate's records, the runs, their logs
RELEASE_STARTED=".release-started"  # in STATE_DIR/<app>: the image a release named before Python started
GATE_FILE="images.json"             # in STATE_DIR/<app>: the gate's record of each image (gate/policy.py)
