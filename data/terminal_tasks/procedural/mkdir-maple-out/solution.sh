mkdir -p /app/maple && touch /app/maple/out.txt
