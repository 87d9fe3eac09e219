mkdir -p /app/ocean && touch /app/ocean/result.txt
