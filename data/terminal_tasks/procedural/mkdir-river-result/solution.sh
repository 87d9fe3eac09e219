mkdir -p /app/river && touch /app/river/result.txt
