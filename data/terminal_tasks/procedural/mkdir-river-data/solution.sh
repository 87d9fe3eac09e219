mkdir -p /app/river && touch /app/river/data.txt
