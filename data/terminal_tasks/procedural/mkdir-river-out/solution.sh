mkdir -p /app/river && touch /app/river/out.txt
