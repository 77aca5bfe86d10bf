"""checkdmarc's verdicts on the lab's mail domain, as JSON on stdout (test/verify-lab.test.ts).

Usage: checkdmarc_probe.py DOMAIN MX_HOST RESOLVER_PORT < policy.txt

Every query goes to the lab's Unbound on 127.0.0.1:RESOLVER_PORT; nothing is fetched over HTTP
(the MTA-STS policy text comes on stdin and goes to checkdmarc's parser).
"""

import json
import sys

import dns.nameserver
import dns.resolver
from checkdmarc.dmarc import check_dmarc
from checkdmarc.dnssec import check_dnssec, get_tlsa_records
from checkdmarc.mta_sts import parse_mta_sts_policy, query_mta_sts_record
from checkdmarc.smtp_tls_reporting import check_smtp_tls_reporting
from checkdmarc.spf import check_spf

domain, mx_host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
policy = sys.stdin.read()
nameserver = dns.nameserver.Do53Nameserver("127.0.0.1", port)
resolver = dns.resolver.Resolver(configure=False)
resolver.nameservers = [nameserver]

results = {}


def attempt(name, function):
    try:
        results[name] = function()
    except Exception as error:  # the verdict is the error
        results[name] = {"error": f"{type(error).__name__}: {error}"}


attempt("spf", lambda: check_spf(domain, resolver=resolver))
attempt("dmarc", lambda: check_dmarc(domain, resolver=resolver))
attempt("tls_rpt", lambda: check_smtp_tls_reporting(domain, resolver=resolver))
attempt("mta_sts_record", lambda: query_mta_sts_record(domain, resolver=resolver))
attempt("mta_sts_policy", lambda: parse_mta_sts_policy(policy))
attempt("dnssec", lambda: check_dnssec(domain, nameservers=[nameserver]))
attempt("dnssec_mx", lambda: check_dnssec(mx_host, nameservers=[nameserver]))
attempt("tlsa", lambda: get_tlsa_records(mx_host, nameservers=[nameserver]))
print(json.dumps(results, default=str))
