mkdir -p /app/ocean && touch /app/ocean/data.txt
