#!/usr/bin/env python3
"""HAProxy (mode tcp, send-proxy (v1) to a cleartext listener (h2c)) in front of two replicas; one region's storage stops: the other
regions' writes keep succeeding, the stopped region's get 503 with Retry-After, and both replicas
stay in HAProxy's pool. The scenario is in lbscenario.py."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
import lbscenario  # noqa: E402


def main(t):
    lbscenario.run(t, "send-proxy", tls=False)


if __name__ == "__main__":
    H.run_test("ops_haproxy_v1", main, timeout=60)
