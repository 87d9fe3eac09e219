mkdir -p /app/piano && touch /app/piano/result.txt
