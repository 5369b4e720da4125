#!/usr/bin/env bash
# Makes sure an etcd server binary is on PATH (tests start their own etcd on 127.0.0.1).
exec "$(dirname "$0")/ensure-deb.sh" etcd etcd-server "the coordinator tests"
