mkdir -p /app/apple && touch /app/apple/out.txt
