# Sourced by scripts/test.sh: make sure a PostgreSQL 15 server runs on 127.0.0.1:5432 with a
# `lifesign` role and a `lifesign_test` database, and export LIFESIGN_TEST_POSTGRES_URL.
# Installs PostgreSQL with apt when it is missing (CI machines run as root).

pg_setup() {
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    echo "== installing PostgreSQL (apt)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
  fi
  local version
  version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
  if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -q "^${version} main$"; then
    pg_createcluster "$version" main >/dev/null
  fi
  if ! pg_lsclusters -h | awk -v v="$version" '$1==v && $2=="main" {print $4}' | grep -q online; then
    pg_ctlcluster "$version" main start
  fi
  for _ in $(seq 1 30); do
    su postgres -c "pg_isready -q -h 127.0.0.1 -p 5432" && break
    sleep 1
  done
  su postgres -c "psql -qtA -c \"SELECT 1 FROM pg_roles WHERE rolname='lifesign'\"" | grep -q 1 ||
    su postgres -c "psql -q -c \"CREATE ROLE lifesign LOGIN SUPERUSER PASSWORD 'lifesign'\""
  su postgres -c "psql -qtA -c \"SELECT 1 FROM pg_database WHERE datname='lifesign_test'\"" | grep -q 1 ||
    su postgres -c "createdb -O lifesign lifesign_test"
  export LIFESIGN_TEST_POSTGRES_URL="postgresql+psycopg://lifesign:lifesign@127.0.0.1:5432/lifesign_test"
}
