mkdir -p /app/piano && touch /app/piano/data.txt
