#!/bin/bash
chmod a+x /app/run.sh
chmod 600 /app/secret.key
chown -R www-data:www-data /app/logs
