mkdir -p /app/cloud && touch /app/cloud/word.txt
