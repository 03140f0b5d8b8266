# Sourced by start.sh and offline.sh: normalises an on/off environment variable in place.
# normalise_switch NAME DEFAULT sets NAME to true or false from true/false, 1/0, yes/no or on/off
# (any case), or fails with a message naming it; serverless.yml then reads it with strToBool.
normalise_switch() {
  local name="$1" value="${!1:-$2}"
  case "${value,,}" in
    true | 1 | yes | on) export "$name=true" ;;
    false | 0 | no | off) export "$name=false" ;;
    *) echo "$name must be true or false (1/0, yes/no, on/off), got '$value'" >&2; return 2 ;;
  esac
}
