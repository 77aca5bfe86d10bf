#!/bin/bash
# mailstack admin-password: the admin's sudo password, the stack's random one (stack output
# admin.sudoPassword). Runs from SSH stdin only: the password is in no file, command line or log;
# chpasswd reads it on stdin and stores a SHA-512 crypt hash. sshd accepts no passwords.
# Settings: ADMIN_USER, ADMIN_PASSWORD.

chpasswd --crypt-method SHA512 <<<"$ADMIN_USER:$ADMIN_PASSWORD"
log "admin-password done"
