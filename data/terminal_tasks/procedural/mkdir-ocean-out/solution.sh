mkdir -p /app/ocean && touch /app/ocean/out.txt
