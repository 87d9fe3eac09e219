mkdir -p /app/apple && touch /app/apple/result.txt
