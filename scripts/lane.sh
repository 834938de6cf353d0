# Sourced by the test command: take a free "lane" so several copies of the suite can run on one machine at once.
# A lane is a PostgreSQL database name and two Redis databases (tests, the demo test) that no other running copy
# uses; it is held with flock for the life of this shell and released when it exits, however it exits.
set -euo pipefail
# lane -> (tests' Redis db, demo test's Redis db); the benches use 11, 13 and 14, the demo 2.
LANE_REDIS_DBS=("15 10" "9 8" "7 6" "5 4" "3 12")
PIM_TEST_LANE=""
# When every lane is busy, wait for one to free up (up to PIM_LANE_WAIT_SECONDS, default 30 minutes).
_lane_deadline=$(( $(date +%s) + ${PIM_LANE_WAIT_SECONDS:-1800} ))
while :; do
  for lane in "${!LANE_REDIS_DBS[@]}"; do
    exec 9>"/tmp/pim-test-lane-$lane.lock"
    if flock -n 9; then PIM_TEST_LANE="$lane"; break; fi
    exec 9>&-
  done
  [ -n "$PIM_TEST_LANE" ] && break
  if [ "$(date +%s)" -ge "$_lane_deadline" ]; then
    echo "ERROR: all ${#LANE_REDIS_DBS[@]} test lanes stayed busy (other copies of the suite are running)." >&2; exit 2
  fi
  [ -z "${_lane_waiting:-}" ] && echo "all ${#LANE_REDIS_DBS[@]} test lanes are busy: waiting for one" && _lane_waiting=1
  sleep 5
done
# Processes of an earlier copy that died on this lane (RQ workers, sweepers, a simulator orphaned by a killed
# pytest) would otherwise consume this copy's queues and write to its database: end them first.
for _proc in /proc/[0-9]*; do
  [ "${_proc#/proc/}" = "$$" ] && continue
  if grep -qsxz "PIM_TEST_LANE=$PIM_TEST_LANE" "$_proc/environ"; then
    echo "test lane $PIM_TEST_LANE: ending leftover process ${_proc#/proc/} of an earlier run"
    kill -9 "${_proc#/proc/}" 2>/dev/null || true
  fi
done
read -r _tests_db _demo_db <<<"${LANE_REDIS_DBS[$PIM_TEST_LANE]}"
export PIM_TEST_LANE
# pytest-django creates test_<name>: test_pim for lane 0 (as before), test_pim_l1, ... for the others.
_suffix=""; [ "$PIM_TEST_LANE" != 0 ] && _suffix="_l$PIM_TEST_LANE"
export DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/pim$_suffix}"
export REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:6379/$_tests_db}"
export DEMO_TEST_DATABASE="${DEMO_TEST_DATABASE:-pim_demo_test$_suffix}"
export DEMO_TEST_REDIS_URL="${DEMO_TEST_REDIS_URL:-redis://127.0.0.1:6379/$_demo_db}"
echo "test lane $PIM_TEST_LANE: PostgreSQL test_${DATABASE_URL##*/}, Redis $REDIS_URL, demo $DEMO_TEST_DATABASE / $DEMO_TEST_REDIS_URL"
