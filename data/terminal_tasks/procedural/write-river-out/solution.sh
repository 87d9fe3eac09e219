echo river > /app/out.txt
