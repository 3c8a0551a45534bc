# Sourced by scripts/test.sh: make sure Debian's headless Chromium (for the browser tests of
# the web app) is installed; the tests drive /usr/bin/chromium through Playwright's Python
# client, which never downloads a browser of its own. The pages are Chinese first: without a CJK
# font every screenshot shows empty boxes, so a small one (WenQuanYi Micro Hei) comes too.

chromium_setup() {
  if ! command -v chromium >/dev/null 2>&1; then
    echo "== installing Chromium (apt)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null
  fi
  if ! fc-list :lang=zh 2>/dev/null | grep -q .; then
    echo "== installing a Chinese font for the screenshots (apt)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq fonts-wqy-microhei >/dev/null \
      || { apt-get update -qq && apt-get install -y -qq fonts-wqy-microhei >/dev/null; }
  fi
  export LIFESIGN_TEST_CHROMIUM="$(command -v chromium)"
}
