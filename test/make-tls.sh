#!/bin/sh
# Throwaway TLS material for the tests, made at test time (no key is ever
# committed): make-tls.sh DIR writes into DIR (which must exist)
#   ca.pem ca.key                   the CA the servers and the clients trust
#   server.pem server.key           signed by it: SANs IP 127.0.0.1 and DNS localhost, serverAuth
#   client.pem client.key           signed by it: clientAuth
#   other-ca.pem other-ca.key       another CA, trusted by nobody
#   other-client.pem other-client.key   a client certificate the other CA signed
#   wrong-host.pem wrong-host.key   signed by ca, but for DNS wrong-host.invalid only
# EC P-256 keys (PKCS#8), certificates valid for 2 days. Used by
# test/c/util_tls.c and test/js/tls-helpers.js; needs the openssl command
# (scripts/deps.sh installs it).
set -eu
dir=$1
cd "$dir"
cat > ext.cnf <<'EOF'
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
[client]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = DNS:tikv-client.test
[wrong_host]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:wrong-host.invalid
EOF

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null; }

# ca NAME CN: a self-signed CA
ca() {
  key "$1"
  openssl req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr"
  openssl x509 -req -in "$1.csr" -signkey "$1.key" -days 2 -sha256 \
    -extfile ext.cnf -extensions ca -out "$1.pem" 2>/dev/null
}

# cert NAME CN ISSUER EXTENSIONS: a certificate ISSUER signed
cert() {
  key "$1"
  openssl req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr"
  openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial \
    -CAserial "$3.srl" -days 2 -sha256 -extfile ext.cnf -extensions "$4" -out "$1.pem" 2>/dev/null
}

ca ca "tikv-client test CA"
ca other-ca "another test CA"
cert server localhost ca server
cert client tikv-client-test ca client
cert other-client tikv-client-test other-ca client
cert wrong-host wrong-host.invalid ca wrong_host
rm -f ./*.csr ./*.srl ext.cnf
