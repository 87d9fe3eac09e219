mkdir -p /app/maple && touch /app/maple/result.txt
