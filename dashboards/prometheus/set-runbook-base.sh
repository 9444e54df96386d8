#!/bin/sh
# Points every alert's runbook_url at another copy of naq's runbooks, e.g. an
# internal mirror of docs/troubleshooting.md:
#
#   dashboards/prometheus/set-runbook-base.sh https://wiki.example.internal/naq/troubleshooting [DIR]
#
# It replaces the base declared by the "# runbook-base: " line of
# DIR/alerts.yml (DIR defaults to this script's directory) with the new base,
# in that line, in every runbook_url of alerts.yml and in the expected
# annotations of alerts_test.yml, so `promtool test rules` still passes. The
# mirror must keep the anchors (#high-error-ratio, #disconnected, ...).
set -eu

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	echo "usage: $0 NEW_BASE [DIR]" >&2
	exit 2
fi
new=$1
dir=${2:-$(dirname "$0")}

case $new in
http://* | https://*) ;;
*)
	echo "$0: $new: the base must be an absolute http:// or https:// URL" >&2
	exit 2
	;;
esac
case $new in
*'#'* | *'"'* | *' '* | *'\'*)
	echo "$0: $new: the base must not contain '#', quotes, spaces or backslashes (the anchor is added after it)" >&2
	exit 2
	;;
esac

old=$(sed -n 's/^# runbook-base: //p' "$dir/alerts.yml")
if [ -z "$old" ]; then
	echo "$0: $dir/alerts.yml has no \"# runbook-base: \" line" >&2
	exit 1
fi

for f in "$dir/alerts.yml" "$dir/alerts_test.yml"; do
	[ -f "$f" ] || continue
	tmp=$f.tmp.$$
	# Literal (not regular-expression) replacement of every occurrence.
	awk -v old="$old" -v new="$new" '{
		out = ""; s = $0
		while ((i = index(s, old)) > 0) {
			out = out substr(s, 1, i - 1) new
			s = substr(s, i + length(old))
		}
		print out s
	}' "$f" >"$tmp"
	mv "$tmp" "$f"
done
echo "runbook base: $old -> $new"
