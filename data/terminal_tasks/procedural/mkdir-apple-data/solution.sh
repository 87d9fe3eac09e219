mkdir -p /app/apple && touch /app/apple/data.txt
