mkdir -p /app/maple && touch /app/maple/data.txt
