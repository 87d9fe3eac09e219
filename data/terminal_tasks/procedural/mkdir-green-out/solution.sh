mkdir -p /app/green && touch /app/green/out.txt
