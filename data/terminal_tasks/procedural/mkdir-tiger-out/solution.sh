mkdir -p /app/tiger && touch /app/tiger/out.txt
