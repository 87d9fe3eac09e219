mkdir -p /app/piano && touch /app/piano/out.txt
